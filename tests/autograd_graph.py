"""Test helper: what an autograd graph is made of."""


def grad_fn_names(y):
    """Type names of every node of ``y``'s autograd graph (each node once)."""
    seen, stack, names = set(), [y.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.append(type(fn).__name__)
        stack.extend(f for f, _ in fn.next_functions)
    return names
