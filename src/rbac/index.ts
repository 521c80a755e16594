// Role-based access control: administration of application roles, their permissions and
// per-tenant assignments, over the auth module's SQL functions (sql/auth/0009_rbac.sql).
// Permissions are checked at query time by auth.has_permission() in the request context.
export {
  type AssignmentChange,
  databaseUser,
  type Queryable,
  RbacAdmin,
  type RbacAdminOptions,
  type RbacAssignment,
  type RbacRole,
  type RbacUser,
  type RoleDefinition,
} from './rbac-admin.js';
export { rbacError } from './rbac-error.js';
