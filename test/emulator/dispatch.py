"""Per-(service, action) scenario handlers.

A *judge* runs before moto: it returns a Response to answer the request itself (typically an
AWS error from evaluating the request), or None to let moto handle it. It may leave notes on
`req` for its *after* handler.

An *after* handler runs on moto's successful (2xx) response and may rewrite it.

To give the layer a new behaviour for, say, ECS UpdateService, add a module with
`@judge("ecs", "UpdateService")` / `@after("ecs", "UpdateService")` functions and import
it in layer.py. Handlers receive the Layer (for its state) and the AwsRequest.
"""

JUDGES = {}
AFTERS = {}


def judge(service, action):
    def register(fn):
        JUDGES[(service, action)] = fn
        return fn

    return register


def after(service, action):
    def register(fn):
        AFTERS[(service, action)] = fn
        return fn

    return register


# Control endpoints and reset hooks of per-service modules (ecs.py...), installed by layer.py.
# A path ending in "/*" matches any path under it; the rest is passed as query["*"].
CONTROLS = {}
RESETS = []


def control(method, path):
    def register(fn):
        CONTROLS[(method, path)] = fn  # fn(layer, body, query) -> JSON-able
        return fn

    return register


def on_reset(fn):
    RESETS.append(fn)  # fn(layer), on /_layer/reset and at start
    return fn
