"""Who is asking: Hawk primitives (`hawk`, pure) and the request authenticator
(`authenticator`, which reads credentials from the store)."""
