"""Use cases (enrol, identify, verify, detect, bulk import, export), written against protocols."""
