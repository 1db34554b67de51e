"""Events: what happened (types), the outbox in the store, the deliverer, one module per sink."""
