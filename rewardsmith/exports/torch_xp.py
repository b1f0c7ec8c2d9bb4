"""A reward's NumPy-style `xp` calls run on torch: the `torch_xp` shim an export carries, and the rewrite of the
program's `.astype` calls (torch tensors have none). Formats whose modules run on torch (torch, isaaclab) use both."""

from __future__ import annotations

import ast

TORCH_XP = '''

class _TorchXP:
    """The NumPy-style calls a reward makes, on torch: axis -> dim, clip -> clamp, numpy names -> torch names."""

    _NAMES = {"clip": "clamp", "concatenate": "cat", "arctan2": "atan2", "arccos": "acos", "arcsin": "asin",
              "arctan": "atan", "absolute": "abs", "power": "pow", "asarray": "as_tensor", "array": "tensor"}

    _SCALAR_OK = {"clip", "maximum", "minimum", "where", "arctan2", "power", "fmax", "fmin", "hypot"}

    float32 = torch.float32
    float64 = torch.float64
    pi = math.pi
    linalg = torch.linalg

    @staticmethod
    def astype(x, dtype):
        """numpy's x.astype(dtype); the export rewrites the program's .astype calls into this one."""
        return torch.as_tensor(x).to(dtype)

    def __getattr__(self, name):
        fn = getattr(torch, self._NAMES.get(name, name))
        if not callable(fn):
            return fn

        def call(*args, **kwargs):
            if "axis" in kwargs:
                kwargs["dim"] = kwargs.pop("axis")
            if "keepdims" in kwargs:
                kwargs["keepdim"] = kwargs.pop("keepdims")
            if name in self._SCALAR_OK:  # numpy takes Python numbers where these torch functions want tensors
                tensors = [a for a in args if isinstance(a, torch.Tensor)]
                ref = next((a for a in tensors if a.is_floating_point()), tensors[0] if tensors else None)
                if ref is not None:
                    args = tuple(torch.as_tensor(a, dtype=ref.dtype, device=ref.device)
                                 if isinstance(a, (int, float)) else a for a in args)
            return fn(*args, **kwargs)
        return call


torch_xp = _TorchXP()
'''


class _AstypeToTorch(ast.NodeTransformer):
    """x.astype(T) -> torch_xp.astype(x, T): torch tensors have no .astype."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "astype" and len(node.args) == 1:
            func = ast.Attribute(value=ast.Name("torch_xp", ast.Load()), attr="astype", ctx=ast.Load())
            return ast.copy_location(ast.Call(func=func, args=[node.func.value, *node.args], keywords=[]), node)
        return node


def for_torch(body: str) -> str:
    """The program with its .astype calls rewritten (re-printed by ast only when it has any: comments then go)."""
    tree = ast.parse(body)
    if not any(isinstance(n, ast.Attribute) and n.attr == "astype" for n in ast.walk(tree)):
        return body
    return ast.unparse(ast.fix_missing_locations(_AstypeToTorch().visit(tree)))
