# Seed 004: finite differences, dot, sum, indexing, detach, Python control flow, MSELoss.
import tapegrad as t
from tapegrad import Tensor
import tapegrad.nn as nn


def f(x: Tensor):
    return 3 * x.pow(2) - 4 * x


h = t.tensor(0.1, dtype=t.float64)
x = t.tensor(1., dtype=t.float64)
for i in range(10):
    delta = (f(x + h) - f(x)) / h
    print("{:.10f}".format(delta))
    h = h * 0.1

x = t.arange(4.)
print(x)
x.requires_grad_(True)
print(x.grad)
y = 2 * t.dot(x, x)
print(y)
y.backward()
print(x.grad)
print(x.grad == 4 * x)

x.grad.zero_()
y = x.sum()
y.backward()
print(x.grad)

print(x)
x.grad.zero_()
y = x[0] + 2 * x[1]
y.backward()
print(x.grad)

x.grad.zero_()
y = x * x
print(y)
y = y.sum()
y.backward()
print(y)
print(x.grad)

x.grad.zero_()
y = x * x
u = y.detach()
z = u * x
z.sum().backward()
print(x.grad == u)
x.grad.zero_()
y.sum().backward()
print(x.grad)


def f2(a: Tensor):
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


t.manual_seed(0)
a = t.randn(size=(), requires_grad=True)
d = f2(a)
d.backward()
print(a, d)
print(a.grad == d / a)

a = t.tensor(([1], [2]), dtype=t.float32, requires_grad=True)
b = t.tensor(([3], [4]), dtype=t.float32)
loss_func = nn.MSELoss()
loss = loss_func(a, b)
loss.sum().backward()
print("a.grad is :{}", a.grad)
a.grad.zero_()
loss = loss_func(b, a)
loss.backward()
print("a.grad is :{}", a.grad)
a.grad.zero_()
loss = loss_func(b, a)
loss.mean().backward()
print("a.grad is :{}", a.grad)
