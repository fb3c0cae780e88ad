"""Other tools' formats: Timeloop v4 and Accelergy (``interop.timeloop``)."""
