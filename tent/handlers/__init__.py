"""HTTP only: parse the request, call core and store, shape the response."""
