# question: fit_resistance
# why: L-BFGS with a strong Wolfe line search on standardised inputs
def fit_resistance(current, voltage):
    """Learn V = R * I + offset by gradient descent with autograd; return (R, offset) as floats."""
    I = torch.as_tensor(current, dtype=torch.float64).flatten()
    V = torch.as_tensor(voltage, dtype=torch.float64).flatten().to(I.device)
    i_mean, i_std = I.mean(), I.std()
    v_std = V.std()
    z = (I - i_mean) / i_std
    params = torch.zeros(2, dtype=torch.float64, device=I.device, requires_grad=True)
    opt = torch.optim.LBFGS([params], lr=1, max_iter=200, line_search_fn='strong_wolfe',
                            tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        pred = params[0] * z + params[1]
        loss = ((pred - V / v_std) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    slope, intercept = params.detach() * v_std
    R = slope / i_std
    return R.item(), (intercept - R * i_mean).item()
