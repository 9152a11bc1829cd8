"""Domain services: every change of state goes through one of them (D-79).

Each owns its unit of work (`Database.transaction`), what is published and queued, and the
side effects a change has; handlers (the API and the owner's pages alike) parse, call one
service method and render. Submodules are imported by name: this package imports none of
them, so `tent.delivery` may use `tent.services.publishing` without a cycle.
"""
