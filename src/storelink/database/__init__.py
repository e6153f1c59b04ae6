"""PostgreSQL: what replicas must keep, in one database they share (``STORELINK_DATABASE_URL``)."""
