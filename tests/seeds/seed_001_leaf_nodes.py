# Seed 001: computational graph, leaf nodes, and the error for integer tensors.
import tapegrad as torch

w = torch.tensor([1.], requires_grad=True)
x = torch.tensor([2.], requires_grad=True)
a = torch.add(w, x)
b = torch.add(w, 2)
y = torch.mul(a, b)
y.backward()
print(w.grad)

try:
    w = torch.tensor([1], requires_grad=True)
    x = torch.tensor([2], requires_grad=True)
except RuntimeError as error:
    print("RuntimeError:", error)

w = torch.tensor([1.], requires_grad=True)
x = torch.tensor([2.], requires_grad=True)
a = torch.add(w, x)
b = torch.add(w, 2)
y = torch.mul(a, b)
y.backward()
print(w.is_leaf, x.is_leaf, a.is_leaf, b.is_leaf, y.is_leaf)
print(w.grad, x.grad, a.grad, b.grad, y.grad)
