"""The LLM chain: the policy above the provider adapters.

Which providers a request tries and in what order (``policy``), streaming along that chain
with retries, fallback before the first text, a circuit breaker per provider, the spending
budgets checked before each call and a cost record written for each attempt (``fallback``).
"""
