"""modelwise: route every LLM task to the best model for the money, inside a hard daily budget."""

__version__ = "0.1.0"

__all__ = ["TokenOptimizationService", "__version__"]


def __getattr__(name: str):
    # Lazy: `import modelwise` stays cheap for the CLI's cold start.
    if name == "TokenOptimizationService":
        from modelwise.service import TokenOptimizationService

        return TokenOptimizationService
    raise AttributeError(name)
