# Seed 002: x**2, x+2, and a linear model trained with optim.SGD.
import tapegrad as torch
import tapegrad.optim as optim

x = torch.tensor([5.0], requires_grad=True)
f = x ** 2
f.backward()
print(x.grad)

x = torch.rand(3, 4)
y = torch.rand(3, 4)
z = x + y
w = z * 2
print(w.grad_fn, w.requires_grad)

x = torch.tensor([1.0], requires_grad=True)
f = x + 2
f.backward()
print(x.grad)

w = torch.tensor([1.0], requires_grad=True)
b = torch.tensor([0.0], requires_grad=True)
x_train = torch.tensor([[1.0], [2.0], [3.0]])
y_train = torch.tensor([[3.0], [5.0], [7.0]])
optimizer = optim.SGD([w, b], lr=0.01)
for i in range(100):
    y_pred = w * x_train + b
    loss = torch.sum((y_pred - y_train) ** 2)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print('Epoch [{}/{}], Loss: {:.4f}'.format(i + 1, 100, loss.item()))
print('w = {}, b = {}'.format(w.item(), b.item()))
