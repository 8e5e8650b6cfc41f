"""Provider health from real traffic: every provider call's outcome and latency counted in
per-minute buckets (``recording``), the free model-listing check made at most once a minute
(``checks``), and each provider's state, error rate and latency over the last hour and day
(``selectors``), shown on ``/providers/health/``, in the provider pickers and in the API.

The LLM chain and the video jobs record their calls here; the provider families describe their
providers (set up or not, circuit, listing check) through sources registered when their apps
are ready (``sources``), so this app imports neither.
"""
