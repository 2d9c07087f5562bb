"""`cgan-serve`: a generator behind HTTP, for apps in any language (the `serve` extra; no torch).

`command` is the console script; `settings` its options' defaults; `app` the ASGI app; `protocol` the Open
Inference Protocol's messages; `pictures` /generate's query and picture;
`batcher` the dynamic batcher; `metrics` what /metrics reports;
`slow_clients` the connection protocol that cuts off clients slow to send headers.
"""
