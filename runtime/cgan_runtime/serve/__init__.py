"""`cgan-serve`: a generator behind HTTP, for apps in any language (the `serve` extra; no torch).

The console script is `cgan_runtime.commands.serve`; here, `settings` are its options' defaults; `app` the ASGI app; `protocol` the Open
Inference Protocol's messages; `pictures` /generate's query and picture;
`batcher` the dynamic batcher; `metrics` what /metrics reports;
`slow_clients` the connection protocol that cuts off clients slow to send headers.
"""
