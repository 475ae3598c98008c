import type { Workspace } from '../workspace/model.js';
import { printable } from './api.js';
import type { TeamContext } from './team.js';
import * as wire from './wire.js';

/** Adds the server's projects that this machine does not know yet (after joining). */
export async function pullProjects(ctx: TeamContext, workspace: Workspace): Promise<number> {
  const { projects } = await ctx.session.api.call(
    'GET',
    `/v1/workspaces/${encodeURIComponent(workspace.id)}/projects`,
    wire.projectsResponse,
  );
  let added = 0;
  await ctx.services.workspaces.updateWorkspace(workspace.id, (w) => {
    for (const p of projects) {
      if (w.projects.some((x) => x.id === p.id)) continue;
      w.projects.push({
        id: p.id,
        name: printable(p.name),
        description: '',
        created_at: p.created_at,
        updated_at: p.created_at,
        last_pull_at: null,
        last_push_at: null,
      });
      added++;
    }
  });
  return added;
}
