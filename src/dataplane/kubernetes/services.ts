/**
 * One rollout's listeners → plain Kubernetes Services, the objects every other kind builds
 * on (as Argo Rollouts' stableService / canaryService / previewService do, whose selectors
 * it points at a ReplicaSet with `rollouts-pod-template-hash`; sluice selects its revision
 * label `sluice.dev/revision: "N"` beside `sluice.dev/rollout: NAME`):
 *
 * - `<rollout>`: what the main listener serves. One revision in the split: that revision's
 *   pods. Several (a canary at 20 %, an A/B test, a rolling update): every pod of the
 *   rollout, so **the split is by replica count**, as a Kubernetes Service spreads
 *   connections over the pods of two ReplicaSets (Argo Rollouts' canary without
 *   trafficRouting; sluice's canary scales the canary to its weight by default).
 * - `<rollout>-stable`, `<rollout>-canary`: the stable revision and the one being released
 *   (the stable one too when none is), for direct access and for the routers of the other
 *   kinds; `<rollout>-preview` when there is a preview listener (blue-green), and
 *   `<rollout>-variant-<name>` for A/B variants from the third on.
 *
 * Nothing else routes with plain Services: match rules, mirrors and stop-traffic are
 * refused (they need gatewayApi, istio or nginxIngress). Pure: no I/O.
 */
import { type KubeObject, type TrafficInput, refuse, revisionSelector, ROLLOUT_LABEL, rolesOf, service, serviceName, slotServices } from './common.js';
import type { ServicesSettings } from './settings.js';

export const SERVICES = 'services';

export function renderServices(input: TrafficInput<ServicesSettings>): KubeObject[] {
  const roles = rolesOf(SERVICES, input);
  const { main } = roles;
  const { rollout, namespace } = input;
  if (main.rules.length > 0)
    refuse(SERVICES, rollout, `match rule ${main.rules[0]!.name} cannot be expressed by plain Services; use gatewayApi, istio or nginxIngress`);
  if ((main.mirrors ?? []).some((m) => m.percent > 0)) refuse(SERVICES, rollout, 'a mirror cannot be expressed by plain Services; use gatewayApi or istio');
  if (main.hold)
    refuse(SERVICES, rollout, `${main.hold.mode === 'stopped' ? 'stop' : 'pause'}-traffic cannot be expressed by plain Services; use gatewayApi or istio`);
  const serving = [...new Set(main.split.filter((t) => t.weight > 0).map((t) => t.revision))];
  if (serving.length === 0) refuse(SERVICES, rollout, 'the main listener routes to no revision (maintenance), which plain Services cannot answer');
  const selector = serving.length === 1 ? revisionSelector(rollout, serving[0]!) : { [ROLLOUT_LABEL]: rollout };
  return [service(serviceName(SERVICES, rollout), namespace, rollout, selector, input.settings), ...slotServices(SERVICES, input, roles)];
}
