"""The gateway: OpenAI-compatible endpoints on `modelwise serve` that route, call the chosen provider,
stream the answer through and settle the decision at the usage the provider reports."""
