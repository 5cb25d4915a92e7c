"""Code every antq service uses: contracts, bus, database, auth, settings and observability."""
