"""Tenants and API keys, shared by every service (schema `hearth`)."""
