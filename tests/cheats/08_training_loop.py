"""Lab 8's cheats: answers that must score nothing (tests/test_exercises.py)."""

CHEATS = {
    "ex1-answer": {
        "each micro-batch's mean loss, unweighted": (
            "def accumulated_step(model, loss_fn, optimizer, micro_batches):\n"
            "    optimizer.zero_grad()\n"
            "    total = 0.0\n"
            "    for inputs, targets in micro_batches:\n"
            "        loss = loss_fn(model(inputs), targets)\n"
            "        loss.backward()\n"
            "        total += loss.item()\n"
            "    optimizer.step()\n"
            "    return total\n"),
        "the mean of the micro-batches' losses, equal weights": (
            "def accumulated_step(model, loss_fn, optimizer, micro_batches):\n"
            "    optimizer.zero_grad()\n"
            "    total = 0.0\n"
            "    for inputs, targets in micro_batches:\n"
            "        loss = loss_fn(model(inputs), targets) / len(micro_batches)\n"
            "        loss.backward()\n"
            "        total += loss.item()\n"
            "    optimizer.step()\n"
            "    return total\n"),
        "gradients cleared between micro-batches": (
            "def accumulated_step(model, loss_fn, optimizer, micro_batches):\n"
            "    total = sum(len(inputs) for inputs, _ in micro_batches)\n"
            "    whole = 0.0\n"
            "    for inputs, targets in micro_batches:\n"
            "        optimizer.zero_grad()\n"
            "        loss = loss_fn(model(inputs), targets) * (len(inputs) / total)\n"
            "        loss.backward()\n"
            "        whole += loss.item()\n"
            "    optimizer.step()\n"
            "    return whole\n"),
        "the whole batch at once": (
            "def accumulated_step(model, loss_fn, optimizer, micro_batches):\n"
            "    inputs = torch.cat([x for x, _ in micro_batches])\n"
            "    targets = torch.cat([y for _, y in micro_batches])\n"
            "    optimizer.zero_grad()\n"
            "    loss = loss_fn(model(inputs), targets)\n"
            "    loss.backward()\n"
            "    optimizer.step()\n"
            "    return loss.item()\n"),
        "finite differences": (
            "def accumulated_step(model, loss_fn, optimizer, micro_batches):\n"
            "    total = sum(len(inputs) for inputs, _ in micro_batches)\n"
            "\n"
            "    def whole_loss():\n"
            "        return sum(loss_fn(model(x), y).item() * len(x) / total\n"
            "                   for x, y in micro_batches)\n"
            "\n"
            "    before, h = whole_loss(), 1e-6\n"
            "    with torch.no_grad():\n"
            "        for p in model.parameters():\n"
            "            p.grad = torch.zeros_like(p)\n"
            "            flat, grad = p.view(-1), p.grad.view(-1)\n"
            "            for i in range(flat.numel()):\n"
            "                flat[i] += h\n"
            "                up = whole_loss()\n"
            "                flat[i] -= 2 * h\n"
            "                down = whole_loss()\n"
            "                flat[i] += h\n"
            "                grad[i] = (up - down) / (2 * h)\n"
            "    optimizer.step()\n"
            "    return before\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def accumulated_step(model, loss_fn, optimizer, micro_batches):\n"
            "    total = sum(len(inputs) for inputs, _ in micro_batches)\n"
            "    optimizer.zero_grad()\n"
            "    whole = 0.0\n"
            "    for inputs, targets in micro_batches:\n"
            "        share = reference.leaf(len(inputs) / total).detach()\n"
            "        loss = loss_fn(model(inputs), targets) * share\n"
            "        loss.backward()\n"
            "        whole += loss.item()\n"
            "    optimizer.step()\n"
            "    return whole\n"),
    },
    "ex2-answer": {
        "every layer trained": (
            "def fine_tune_last_layer(model, loss_fn, inputs, targets, lr, steps):\n"
            "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        optimizer.zero_grad()\n"
            "        loss = loss_fn(model(inputs), targets)\n"
            "        loss.backward()\n"
            "        optimizer.step()\n"
            "        losses.append(loss.item())\n"
            "    return torch.tensor(losses)\n"),
        "frozen, but the old gradients used by the first step": (
            "def fine_tune_last_layer(model, loss_fn, inputs, targets, lr, steps):\n"
            "    last = [m for m in model if any(True for _ in m.parameters())][-1]\n"
            "    for p in model.parameters():\n"
            "        p.requires_grad_(False)\n"
            "    for p in last.parameters():\n"
            "        p.requires_grad_(True)\n"
            "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        loss = loss_fn(model(inputs), targets)\n"
            "        loss.backward()\n"
            "        optimizer.step()\n"
            "        optimizer.zero_grad()\n"
            "        losses.append(loss.item())\n"
            "    return torch.tensor(losses)\n"),
        "model[-1] taken for the last layer": (
            "def fine_tune_last_layer(model, loss_fn, inputs, targets, lr, steps):\n"
            "    for p in model.parameters():\n"
            "        p.requires_grad_(False)\n"
            "        p.grad = None\n"
            "    for p in model[-1].parameters():\n"
            "        p.requires_grad_(True)\n"
            "    trainable = [p for p in model.parameters() if p.requires_grad]\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        loss = loss_fn(model(inputs), targets)\n"
            "        if trainable:\n"
            "            for p in trainable:\n"
            "                p.grad = None\n"
            "            loss.backward()\n"
            "            with torch.no_grad():\n"
            "                for p in trainable:\n"
            "                    p -= lr * p.grad\n"
            "        losses.append(loss.item())\n"
            "    return torch.tensor(losses)\n"),
        "finite differences for the last layer": (
            "def fine_tune_last_layer(model, loss_fn, inputs, targets, lr, steps):\n"
            "    last = [m for m in model if any(True for _ in m.parameters())][-1]\n"
            "    for p in model.parameters():\n"
            "        p.requires_grad_(False)\n"
            "        p.grad = None\n"
            "    losses, h = [], 1e-6\n"
            "    for _ in range(steps):\n"
            "        with torch.no_grad():\n"
            "            losses.append(loss_fn(model(inputs), targets).item())\n"
            "            grads = []\n"
            "            for p in last.parameters():\n"
            "                g, flat = torch.zeros_like(p).view(-1), p.view(-1)\n"
            "                for i in range(flat.numel()):\n"
            "                    flat[i] += h\n"
            "                    up = loss_fn(model(inputs), targets)\n"
            "                    flat[i] -= 2 * h\n"
            "                    down = loss_fn(model(inputs), targets)\n"
            "                    flat[i] += h\n"
            "                    g[i] = (up - down) / (2 * h)\n"
            "                grads.append(g.view_as(p))\n"
            "            for p, g in zip(last.parameters(), grads):\n"
            "                p -= lr * g\n"
            "    for p in last.parameters():\n"
            "        p.requires_grad_(True)\n"
            "    return torch.tensor(losses)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def fine_tune_last_layer(model, loss_fn, inputs, targets, lr, steps):\n"
            "    last = [m for m in model if any(True for _ in m.parameters())][-1]\n"
            "    for p in model.parameters():\n"
            "        p.requires_grad_(False)\n"
            "    for p in last.parameters():\n"
            "        p.requires_grad_(True)\n"
            "    optimizer = torch.optim.SGD(last.parameters(), lr=lr)\n"
            "    losses, _ = reference.training_curve(model, loss_fn, optimizer, inputs,\n"
            "                                         targets, steps)\n"
            "    return losses\n"),
    },
    "ex3-answer": {
        "each entry clamped": (
            "def clip_gradient_norm(tensor, max_norm):\n"
            "    return tensor.register_hook(lambda g: g.clamp(-max_norm, max_norm))\n"),
        "always scaled to the maximum norm": (
            "def clip_gradient_norm(tensor, max_norm):\n"
            "    return tensor.register_hook(lambda g: g * (max_norm / g.norm()))\n"),
        "a hook that computes the clipped gradient and returns nothing": (
            "def clip_gradient_norm(tensor, max_norm):\n"
            "    def clip(g):\n"
            "        clipped = g * min(1.0, max_norm / max(g.norm().item(), 1e-30))\n"
            "        del clipped\n"
            "    return tensor.register_hook(clip)\n"),
        "the grader's reference": (
            "from grader import reference\n\n"
            "def clip_gradient_norm(tensor, max_norm):\n"
            "    def clip(g):\n"
            "        norm = reference.leaf(g).norm().item()\n"
            "        return g * (max_norm / norm) if norm > max_norm else None\n"
            "    return tensor.register_hook(clip)\n"),
    },
}
