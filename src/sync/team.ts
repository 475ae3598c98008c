/**
 * Team workspaces on a sync server (DESIGN §10), from this user's side. One entry point over
 * the modules split by concern: the context and the server's view (`team-context`), the
 * signed document (`team-documents`), creating and joining (`team-join`), members
 * (`team-members`) and key rotation (`team-rotation`).
 */
export {
  fingerprintOf,
  ownFingerprint,
  ownKeys,
  remoteWorkspace,
  remoteWorkspaces,
  type RemoteMember,
  type RemoteWorkspace,
  type TeamContext,
  teamContext,
} from './team-context.js';
export { applyDoc, syncDoc, updateDoc } from './team-documents.js';
export {
  ADMIN_PIN_NAME,
  createTeamWorkspace,
  joinTeamWorkspace,
  type JoinTrust,
  workspaceKey,
} from './team-join.js';
export { acceptInvite, confirm, invite, pendingMember, setRole } from './team-members.js';
export { removeMember } from './team-rotation.js';
