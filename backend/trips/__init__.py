"""Trips: ingest of device uploads (ingest.py) and verification of their hash chains (chain.py).

Only ingest writes the trip tables; it reads them only for its own bookkeeping (duplicates and
chain links). Every other read of trip contents goes through backend/access/.
"""
