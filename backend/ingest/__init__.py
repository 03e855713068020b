"""The writer side of trips: ingest of device uploads (records.py) and the per-device hash chain
of their records (chain.py).

Only this package writes the trip tables; it reads them only for its own bookkeeping (duplicates
and chain links). Every read of trip contents goes through the door (backend.access.door).
"""
