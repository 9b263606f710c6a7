"""Delivering documents: encoding, batching, bulk requests, retries and the dead-letter file."""
