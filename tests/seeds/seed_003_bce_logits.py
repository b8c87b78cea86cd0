# Seed 003: binary_cross_entropy_with_logits, grad_fn names, no_grad and detach.
import tapegrad as torch

torch.manual_seed(0)
x = torch.ones(5)
y = torch.zeros(3)
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print(f'Gradient function for z = {z.grad_fn.name()}')
print(f'Gradient function for loss = {loss.grad_fn.name()}')
loss.backward()
print(w.grad)
print(b.grad)

z = torch.matmul(x, w) + b
print(z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w) + b
print(z.requires_grad)
z = torch.matmul(x, w) + b
print(z.detach().requires_grad)
