"""placeholder"""

from fastapi import APIRouter

from keyturn.admin.common import AdminRoute

router = APIRouter(route_class=AdminRoute)
