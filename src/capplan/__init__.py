"""capplan: capacity planner and sizing calculator for a multi-tenant e-commerce SaaS."""

__version__ = "0.1.0"
