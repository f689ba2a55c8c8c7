"""The worker: leases tasks from the server, renders them and uploads the results."""
