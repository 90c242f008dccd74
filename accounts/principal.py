"""Who is acting: the identity every service receives and checks permissions against."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.problems import Forbidden


@dataclass(frozen=True)
class Principal:
    """A user as seen by a use case, detached from any database session."""

    user_id: int | None
    username: str
    roles: frozenset[str]
    warehouses: frozenset[str] = field(default_factory=frozenset)
    token_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def has_any(self, *roles: str) -> bool:
        """Admins may do everything a role may, except where a rule says otherwise explicitly."""
        return self.is_admin or not self.roles.isdisjoint(roles)

    def ensure_role(self, *roles: str) -> None:
        """Services check roles too, so the web pages obey the same rules as the API."""
        if not self.has_any(*roles):
            raise Forbidden(
                f"This needs one of the roles: {', '.join(roles)}.", slug="forbidden-role"
            )

    def may_act_in(self, warehouse_code: str) -> bool:
        return self.is_admin or ("warehouse" in self.roles and warehouse_code in self.warehouses)

    def ensure_warehouse(self, warehouse_code: str) -> None:
        if not self.may_act_in(warehouse_code):
            raise Forbidden(
                f"{self.username} may not change stock in warehouse {warehouse_code}.",
                slug="warehouse-scope",
            )


#: The identity of the system itself (scheduled releases, demo seed, migrations of data).
SYSTEM = Principal(user_id=None, username="system", roles=frozenset({"admin"}))
