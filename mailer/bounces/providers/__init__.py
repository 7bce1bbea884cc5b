"""Reports that email service providers post to ``mailer serve`` (``/hooks/<provider>``).

Each module checks its provider's proof (a signature, credentials) and maps
its events to ``ProviderReport``s; ``bounces.ingest.ingest_reports`` stores
them and applies the policy. Nothing here speaks HTTP.
"""
