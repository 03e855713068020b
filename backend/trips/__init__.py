"""What is built on trips read through the door: the 500 km counter, commutes, classification
proposals, revisions (which also writes what people type about trips), stretches and event texts.
The writer of the trip tables is backend/ingest/.
"""
