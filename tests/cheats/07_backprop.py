"""Lab 7's cheats: answers that must score nothing (tests/test_exercises.py)."""

# Exercise 1's walk, with a line that decides how a gradient reaching a node is kept.
_WALK = '''

def leaf_gradients(y, leaves):
    order, seen = [], set()

    def visit(node):
        if node is None or node in seen:
            return
        seen.add(node)
        for next_node, _ in node.next_functions:
            visit(next_node)
        order.append(node)

    visit(y.grad_fn)
    gathered = {{y.grad_fn: torch.ones_like(y)}}
    found = [torch.zeros_like(leaf) for leaf in leaves]
    with torch.no_grad():
        for node in reversed(order):
            gradient = gathered.pop(node, None)
            if gradient is None:
                continue
            if hasattr(node, "variable"):
                for i, leaf in enumerate(leaves):
                    if node.variable is leaf:
                        found[i] = gradient
                continue
            results = node(gradient)
            if isinstance(results, torch.Tensor):
                results = (results,)
            for (next_node, _), result in zip(node.next_functions, results, strict=True):
                if next_node is None or result is None:
                    continue
                if hasattr(next_node, "variable"):
                    result = result.sum_to_size(next_node.variable.shape)
{keep}
    return tuple(found)
'''

# Exercise 3's Value, with the local rules right and a backward given below.
_VALUE = '''{preamble}

class Value:
    def __init__(self, data, inputs=(), local_grads=()):
        self.data = float(data)
        self.grad = 0.0
        self._inputs = inputs
        self._local_grads = local_grads

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __pow__(self, k):
        return Value(self.data**k, (self,), (k * self.data ** (k - 1),))

    def relu(self):
        return Value(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,))

    def backward(self, gradient=1.0):
{backward}
'''

_TOPOLOGICAL = '''        order, seen = [], set()

        def visit(value):
            if id(value) not in seen:
                seen.add(id(value))
                for an_input in value._inputs:
                    visit(an_input)
                order.append(value)

        visit(self)
        self.grad = gradient
        for value in reversed(order):
            for an_input, local in zip(value._inputs, value._local_grads, strict=True):
'''

# A Value that hands the work to PyTorch's autograd: a float64 tensor inside each Value.
_TORCH_VALUE = '''{preamble}

class Value:
    def __init__(self, data, tensor=None):
        self.tensor = {leaf} if tensor is None else tensor

    @property
    def data(self):
        return self.tensor.item()

    @property
    def grad(self):
        return 0.0 if self.tensor.grad is None else self.tensor.grad.item()

    @staticmethod
    def _of(other):
        return other if isinstance(other, Value) else Value(other)

    def __add__(self, other):
        return Value(None, self.tensor + Value._of(other).tensor)

    def __mul__(self, other):
        return Value(None, self.tensor * Value._of(other).tensor)

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __pow__(self, k):
        return Value(None, self.tensor**k)

    def relu(self):
        return Value(None, torch.relu(self.tensor))

    def backward(self, gradient=1.0):
        self.tensor.backward(torch.tensor(gradient, dtype=torch.float64))
'''

_LEAF_BY_TORCH = "torch.tensor(float(data), dtype=torch.float64, requires_grad=True)"

CHEATS = {
    "ex1-answer": {
        "autograd itself": (
            "def leaf_gradients(y, leaves):\n"
            "    return torch.autograd.grad(y, leaves, materialize_grads=True)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def leaf_gradients(y, leaves):\n"
            "    return reference.partials(lambda *copies: y)(*leaves)\n"),
        "paths overwrite each other instead of adding": _WALK.format(keep=(
            "                gathered[next_node] = result")),
        "the visible example hard-coded": (
            "def leaf_gradients(y, leaves):\n"
            "    return torch.tensor(16.0), torch.tensor(-16.0)\n"),
    },
    "ex2-answer": {
        "autograd itself": (
            "def layer_backward(X, W, b, grad_out):\n"
            "    leaves = [t.detach().clone().requires_grad_(True) for t in (X, W, b)]\n"
            "    out = torch.relu(leaves[0] @ leaves[1] + leaves[2])\n"
            "    return torch.autograd.grad(out, leaves, grad_outputs=grad_out)\n"),
        "torch.func.vjp": (
            "def layer_backward(X, W, b, grad_out):\n"
            "    _, pull_back = torch.func.vjp(lambda X, W, b: torch.relu(X @ W + b), X, W, b)\n"
            "    return pull_back(grad_out)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def layer_backward(X, W, b, grad_out):\n"
            "    layer = lambda X, W, b: torch.relu(X @ W + b)  # noqa: E731\n"
            "    return tuple(reference.input_vjp(layer, i)(X, W, b, grad_out).float()\n"
            "                 for i in range(3))\n"),
        "the ReLU forgotten": (
            "def layer_backward(X, W, b, grad_out):\n"
            "    return grad_out @ W.T, X.T @ grad_out, grad_out.sum(dim=0)\n"),
        "the visible example hard-coded": (
            "def layer_backward(X, W, b, grad_out):\n"
            "    return (torch.tensor([[1.0, 0.5], [-1.0, 1.0], [0.0, 0.75]]),\n"
            "            torch.tensor([[1.0, -1.0, 0.0], [3.5, 2.0, 0.0]]),\n"
            "            torch.tensor([1.5, 1.5, 0.0]))\n"),
    },
    "ex3-answer": {
        "a Value that hands the work to torch's autograd": _TORCH_VALUE.format(
            preamble="", leaf=_LEAF_BY_TORCH),
        "the grader's reference": _TORCH_VALUE.format(
            preamble="from grader import reference\n", leaf="reference.leaf(data)"),
        "paths overwrite each other instead of adding": _VALUE.format(
            preamble="", backward=_TOPOLOGICAL + (
                "                an_input.grad = local * value.grad")),
        "no topological order (depth-first, each value as soon as it is reached)": _VALUE.format(
            preamble="", backward=(
                "        self.grad = gradient\n"
                "        seen = set()\n\n"
                "        def visit(value):\n"
                "            if id(value) in seen:\n"
                "                return\n"
                "            seen.add(id(value))\n"
                "            for an_input, local in zip(value._inputs, value._local_grads):\n"
                "                an_input.grad += local * value.grad\n"
                "            for an_input in value._inputs:\n"
                "                visit(an_input)\n\n"
                "        visit(self)")),
    },
}
