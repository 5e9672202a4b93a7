"""FReLU's form in an ONNX graph: ``Max``, ``Add(x, Relu(conv'(x)))`` and two forms
whose Add ONNX Runtime fuses into a conv.

The exporter writes a fused FReLU as ``Max(x, Conv(x))`` with a depthwise conv (its
BN folded). On x86 ONNX Runtime's default optimisations run the network in a blocked
channel layout (NCHWc): Conv (with a fused Relu or a fused residual Add), pools, Add
and Sum stay in it, but ``Max`` does not, so every FReLU costs a reorder out of the
layout and one back in, full passes over the activation (measured: ResNet-50 with 39
FReLUs gets 79 ReorderOutput and 49 ReorderInput nodes).

Since ``max(x, t) = x + relu(t - x)`` and ``t - x`` is the same depthwise conv with
its centre tap reduced by 1 (``w'[c, 0, p, p] = w[c, 0, p, p] - 1``), the ``add``
form ``Add(x, Relu(Conv'(x)))`` computes FReLU with ops ONNX Runtime keeps blocked
(the Relu fuses into the conv). It is plain ONNX. It equals the ``max`` form up to
float rounding (``x + (t - x)`` instead of ``t``: a few ulps of ``max(|x|, |t|)``).

Its ``Add`` stays a pass of its own in ONNX Runtime: the blocked conv fuses a sum before
its activation (``act(conv(x) + sum)``), and here the Relu comes first. The
``two_conv`` form ``Add(Conv(x), Relu(Conv''(x)))`` uses ``max(x, t) = t + relu(x - t)``,
``x - t`` the depthwise conv with weight ``-w`` (plus 1 at the centre tap) and bias
``-b``: ONNX Runtime fuses the Add into the first conv as its sum, at the cost of a
second depthwise conv. The ``identity_conv`` form ``Add(Conv_1x1(x), Relu(Conv'(x)))``
is the ``add`` form with its ``x`` operand passed through a depthwise 1x1 conv of unit
weight (the identity): ONNX Runtime fuses the Add into that conv as its sum, so the
FReLU's second pass is a blocked conv kernel's, at one multiply-add a value, in place
of the Add's. It is the default: the fastest of the four in ONNX Runtime on x86 (where
the blocked layout runs) and about as fast as ``add`` where it does not (measured in
``docs/performance.md``).

The form written is recorded in the model's ``metadata_props`` under
:data:`METADATA_KEY`.
"""
from typing import Dict, List, Optional, Tuple

import numpy as np

FRELU_FORMS = ('add', 'max', 'two_conv', 'identity_conv')
DEFAULT_FRELU_FORM = 'identity_conv'  # what export_onnx and tools/export_onnx.py write
METADATA_KEY = 'frelu_mm.frelu_form'


def _attrs(node) -> Dict[str, object]:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def identity_tap(conv, weight: np.ndarray) -> Optional[Tuple[int, int]]:
    """The tap ``(i, j)`` of a depthwise ``conv`` that reads the output's own pixel, or
    None if ``conv`` is not a depthwise, channel-preserving, stride-1, undilated conv
    whose output has its input's size.

    Args:
        conv (onnx.NodeProto): a Conv node.
        weight (np.ndarray): its weight, ``(C, 1, kh, kw)``.
    """
    a = _attrs(conv)
    if weight.ndim != 4 or weight.shape[1] != 1 or a.get('group', 1) != weight.shape[0]:
        return None
    kh, kw = weight.shape[2:]
    if list(a.get('kernel_shape', [kh, kw])) != [kh, kw]:
        return None
    if any(v != 1 for v in a.get('strides', [1, 1])) or \
            any(v != 1 for v in a.get('dilations', [1, 1])):
        return None
    auto_pad = a.get('auto_pad', b'NOTSET')
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad != 'NOTSET':
        return None
    top, left, bottom, right = list(a.get('pads', [0, 0, 0, 0]))
    if top + bottom != kh - 1 or left + right != kw - 1:
        return None  # output size differs from the input's
    return top, left


def find_max_frelus(model) -> List[Tuple[object, object, Tuple[int, int]]]:
    """Every FReLU in ``max`` form: ``Max(x, Conv(x))``, the conv depthwise with a
    constant weight and only the Max reading its output.

    Args:
        model (onnx.ModelProto): the model.

    Returns:
        list: ``(max_node, conv_node, identity_tap)`` in graph order.
    """
    from onnx import numpy_helper
    graph = model.graph
    producer = {out: n for n in graph.node for out in n.output}
    readers: Dict[str, int] = {}
    for n in graph.node:
        for name in n.input:
            readers[name] = readers.get(name, 0) + 1
    graph_outputs = {o.name for o in graph.output}
    inits = {t.name: t for t in graph.initializer}
    found = []
    for node in graph.node:
        if node.op_type != 'Max' or node.domain not in ('', 'ai.onnx') or len(node.input) != 2:
            continue
        for x, t in (node.input, node.input[::-1]):
            conv = producer.get(t)
            if conv is None or conv.op_type != 'Conv' or conv.input[0] != x or \
                    readers.get(t) != 1 or t in graph_outputs or \
                    len(conv.input) < 2 or conv.input[1] not in inits:
                continue
            weight = numpy_helper.to_array(inits[conv.input[1]])
            if weight.dtype.kind != 'f':
                continue
            tap = identity_tap(conv, weight)
            if tap is not None:
                found.append((node, conv, tap))
                break
    return found


def _unique(name: str, taken: set) -> str:
    new, i = name, 0
    while new in taken:
        i += 1
        new = f'{name}_{i}'
    taken.add(new)
    return new


def _constant(graph, name: str, inits: Dict[str, object]) -> Optional[np.ndarray]:
    """The value of ``name`` if it is an initializer, or one behind ``Identity`` nodes
    (the exporter shares equal constants that way), else None."""
    from onnx import numpy_helper
    producer = {out: n for n in graph.node for out in n.output}
    while name not in inits and name in producer and producer[name].op_type == 'Identity':
        name = producer[name].input[0]
    return numpy_helper.to_array(inits[name]) if name in inits else None


def _rewrite_max_frelus(model, replacement) -> int:
    """Replace every ``max``-form FReLU of ``model`` by ``replacement(max_node, conv, tap,
    weight, add_init, name)``'s nodes (None: leave it), in place; drop initializers
    nothing reads any more. Returns how many were replaced."""
    from onnx import numpy_helper
    graph = model.graph
    found = find_max_frelus(model)
    if not found:
        return 0
    taken = {t.name for t in graph.initializer} | {v for n in graph.node
                                                   for v in list(n.input) + list(n.output)}
    taken |= {n.name for n in graph.node}
    inits = {t.name: t for t in graph.initializer}

    def add_init(array, name):
        name = _unique(name, taken)
        graph.initializer.append(numpy_helper.from_array(array, name))
        return name
    replace = {}
    for max_node, conv, tap in found:
        weight = numpy_helper.to_array(inits[conv.input[1]]).copy()
        nodes = replacement(max_node, conv, tap, weight, add_init,
                            lambda name: _unique(name, taken))
        if nodes is not None:
            replace[id(max_node)] = nodes
    nodes = []
    for n in graph.node:
        nodes.extend(replace.get(id(n), (n, )))
    del graph.node[:]
    graph.node.extend(nodes)
    read = {v for n in graph.node for v in n.input}
    kept = [t for t in graph.initializer if t.name in read or
            t.name in {i.name for i in graph.input}]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return len(replace)


def _relu_of_conv_minus_identity(max_node, conv, tap, weight, add_init, unique):
    """The ``add`` form's ``Relu(Conv'(x))``: ``conv`` made to read ``w'`` (``weight``
    less 1 at ``tap``, a new initializer) and a Relu of its output. Returns the Relu
    node and its output's name."""
    from onnx import helper
    weight[:, 0, tap[0], tap[1]] -= weight.dtype.type(1)
    conv.input[1] = add_init(weight, conv.input[1] + '_minus_identity')
    relu_out = unique(conv.output[0] + '_relu')
    relu = helper.make_node('Relu', [conv.output[0]], [relu_out],
                            name=unique(max_node.name + '_relu'))
    return relu, relu_out


def max_to_add(model) -> int:
    """Rewrite every ``max``-form FReLU of ``model`` into the ``add`` form, in place.

    ``Max(x, Conv(x; w, b))`` becomes ``Add(x, Relu(Conv(x; w', b)))`` with ``w'`` the
    weight less 1 at the identity tap (a new initializer; the old one is dropped if
    nothing else reads it). The Add keeps the Max's output name.

    Args:
        model (onnx.ModelProto): the model.

    Returns:
        int: how many FReLUs were rewritten.
    """
    from onnx import helper

    def replacement(max_node, conv, tap, weight, add_init, unique):
        relu, relu_out = _relu_of_conv_minus_identity(max_node, conv, tap, weight, add_init,
                                                      unique)
        add = helper.make_node('Add', [conv.input[0], relu_out], list(max_node.output),
                               name=unique(max_node.name + '_add'))
        return relu, add
    return _rewrite_max_frelus(model, replacement)


def max_to_two_conv(model) -> int:
    """Rewrite every ``max``-form FReLU of ``model`` into the ``two_conv`` form, in place.

    ``Max(x, Conv(x; w, b))`` becomes ``Add(Conv(x; w, b), Relu(Conv(x; w'', -b)))``,
    ``w'' = -w`` plus 1 at the identity tap: ``t + relu(x - t)``. The Add keeps the
    Max's output name. A conv whose bias is not a constant is left in max form.

    Args:
        model (onnx.ModelProto): the model.

    Returns:
        int: how many FReLUs were rewritten.
    """
    from onnx import helper
    inits = {t.name: t for t in model.graph.initializer}

    def replacement(max_node, conv, tap, weight, add_init, unique):
        inputs = [conv.input[0]]
        if len(conv.input) > 2 and conv.input[2]:
            bias = _constant(model.graph, conv.input[2], inits)
            if bias is None:
                return None
        neg = -weight
        neg[:, 0, tap[0], tap[1]] += weight.dtype.type(1)
        inputs.append(add_init(neg, conv.input[1] + '_identity_minus'))
        if len(conv.input) > 2 and conv.input[2]:
            inputs.append(add_init(-bias, conv.input[2] + '_negated'))
        diff = unique(conv.output[0] + '_identity_minus')
        second = helper.make_node('Conv', inputs, [diff],
                                  name=unique(conv.name + '_identity_minus'))
        second.attribute.extend(conv.attribute)
        relu_out = unique(diff + '_relu')
        relu = helper.make_node('Relu', [diff], [relu_out], name=unique(max_node.name + '_relu'))
        add = helper.make_node('Add', [conv.output[0], relu_out], list(max_node.output),
                               name=unique(max_node.name + '_add'))
        return second, relu, add
    return _rewrite_max_frelus(model, replacement)


def max_to_identity_conv(model) -> int:
    """Rewrite every ``max``-form FReLU of ``model`` into the ``identity_conv`` form, in
    place.

    ``Max(x, Conv(x; w, b))`` becomes ``Add(Conv(x; 1), Relu(Conv(x; w', b)))``: the
    ``add`` form (``w'`` as in :func:`max_to_add`) whose ``x`` operand is a depthwise
    1x1 conv of unit weight (one initializer per channel count and type, shared). The
    Add keeps the Max's output name.

    Args:
        model (onnx.ModelProto): the model.

    Returns:
        int: how many FReLUs were rewritten.
    """
    from onnx import helper
    units: Dict[Tuple[int, str], str] = {}

    def replacement(max_node, conv, tap, weight, add_init, unique):
        channels = weight.shape[0]
        key = (channels, weight.dtype.str)
        if key not in units:
            units[key] = add_init(np.ones((channels, 1, 1, 1), weight.dtype),
                                  f'frelu_identity_{channels}')
        relu, relu_out = _relu_of_conv_minus_identity(max_node, conv, tap, weight, add_init,
                                                      unique)
        same = unique(conv.input[0] + '_identity')
        identity = helper.make_node('Conv', [conv.input[0], units[key]], [same],
                                    name=unique(max_node.name + '_identity'),
                                    group=channels, kernel_shape=[1, 1])
        add = helper.make_node('Add', [same, relu_out], list(max_node.output),
                               name=unique(max_node.name + '_add'))
        return relu, identity, add
    return _rewrite_max_frelus(model, replacement)


def _set_metadata(model, value: str) -> None:
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = value
            return
    model.metadata_props.add(key=METADATA_KEY, value=value)


def set_frelu_form(path: str, form: str = DEFAULT_FRELU_FORM) -> Dict[str, object]:
    """Write the FReLUs of the ONNX file ``path`` in ``form``, in place.

    ``'add'`` rewrites each ``max``-form FReLU (see :func:`max_to_add`), ``'two_conv'``
    and ``'identity_conv'`` too (:func:`max_to_two_conv`, :func:`max_to_identity_conv`);
    ``'max'`` leaves the graph as the exporter wrote it. Either way the form is recorded
    in the file's metadata (:data:`METADATA_KEY`).

    Args:
        path (str): the ``.onnx`` file.
        form (str): one of :data:`FRELU_FORMS`.

    Returns:
        dict: ``form``, ``rewritten`` (FReLUs turned into that form) and ``max_left``
        (FReLUs still in max form).
    """
    import onnx
    if form not in FRELU_FORMS:
        raise ValueError(f'FReLU ONNX form must be one of {FRELU_FORMS}, got {form!r}')
    model = onnx.load(path)
    rewrite = dict(add=max_to_add, two_conv=max_to_two_conv,
                   identity_conv=max_to_identity_conv).get(form)
    rewritten = rewrite(model) if rewrite is not None else 0
    left = len(find_max_frelus(model))
    _set_metadata(model, f'{form}: {rewritten} rewritten, {left} in max form')
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return dict(form=form, rewritten=rewritten, max_left=left)


def read_frelu_form(path: str) -> Optional[str]:
    """The FReLU form recorded in the ONNX file ``path`` (None if not recorded).

    Args:
        path (str): the ``.onnx`` file.
    """
    import onnx
    model = onnx.load(path, load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return prop.value
    return None
