// The control plane's half of keyless auth in the stand-ins: ServiceAccount tokens are verified with
// TokenReview, as a cloud's federation verifies them against the cluster's issuer and JWKS.
import { RESOURCES, type KubeClient } from '../../../src/kube/client.ts';
import type { SubjectVerifier } from './http.ts';

/** Verifies subject tokens with the control plane's TokenReview: the user name of a valid token for `audience`. */
export function tokenReviewVerifier(client: KubeClient): SubjectVerifier {
  return async (token, audience) => {
    const review = await client.create<{ status?: { authenticated?: boolean; audiences?: string[]; user?: { username?: string } } }>(
      RESOURCES.tokenReviews, undefined, { spec: { token, audiences: [audience] } },
    );
    const status = review.status;
    if (!status?.authenticated || !status.audiences?.includes(audience)) return undefined;
    const username = status.user?.username;
    return username?.startsWith('system:serviceaccount:') ? username : undefined;
  };
}
