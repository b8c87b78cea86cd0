# Seed 000: "pytorch learn 02 autograd" (simple, matmul, multi-dim via setitem, retain_graph, backward args).
import tapegrad as torch
from tapegrad.autograd import Variable

torch.manual_seed(0)
x = Variable(torch.Tensor([2]), requires_grad=True)
y = x + 2
z = y ** 2 + 3
z.backward()
print(x.grad)
print(y.grad)

x = Variable(torch.randn(10, 20), requires_grad=True)
w = Variable(torch.randn(20, 5), requires_grad=True)
y = Variable(torch.randn(10, 5), requires_grad=True)
out = torch.mean(y - torch.matmul(x, w))
out.backward()
print(x.grad)

m = Variable(torch.FloatTensor([[2, 3]]), requires_grad=True)
n = Variable(torch.zeros([1, 2]))
print(m)
print(n)
n[0, 0] = m[0, 0] ** 2
n[0, 1] = m[0, 1] ** 3
print(n)
n.backward(torch.ones_like(n))
print(m.grad)

x = Variable(torch.FloatTensor([3]), requires_grad=True)
y = x * 2 + x ** 2 + 3
print(y)
y.backward(retain_graph=True)
print(x.grad)
y.backward()
print(x.grad)

x = Variable(torch.Tensor([2, 3]), requires_grad=True)
k = Variable(torch.zeros(2))
k[0] = x[0] ** 2
k[1] = x[1] ** 2
print(k)
k.backward(torch.FloatTensor([1, 0]), retain_graph=True)
print(x.grad)
x.grad.data.zero_()
k.backward(torch.FloatTensor([0, 1]))
print(x.grad)
