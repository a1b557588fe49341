/**
 * The identities of a face set. Without families every identity is drawn on its own and differs from
 * every other in at least `minTraitDistance` visible traits. With families of n, identity i belongs to
 * family floor(i / n): its first member (the founder) is drawn as above, and each further member is
 * the founder with `familyTraits` facial features (eyes, nose, mouth, ...) taken from other random
 * faces. Members of a family are the near-identical identities a large real set is full of: they share
 * everything else, while identities of different families still differ in at least minTraitDistance traits.
 */
import { createError } from '../../errors';
import { drawFace, type FaceConfig, loadFacesjs, visibleTraits } from './facesjs';
import { Rng } from './random';

/** Identities of different families differ in at least this many visible traits. */
export const minTraitDistance = 3;

/** The features a family member may have of its own (keys of facesjs's face, each with an `id`). */
export const familyFeatures = ['eye', 'eyebrow', 'nose', 'mouth', 'hair', 'head', 'ear', 'facialHair'] as const;
type FamilyFeature = (typeof familyFeatures)[number];

export interface Families {
  /** Identities per family; 1 (also without families) makes every identity its own family. */
  size: number;
  /** Features each member other than the founder draws anew, 1 to familyFeatures.length. */
  traits: number;
}

// Stream purposes in the Rng keys (2 is the images' stream).
const identityStream = 1;
const memberStream = 3;
const maxAttempts = 1000;

function traitDistance(a: string[], b: string[], enough: number): number {
  let d = 0;
  for (let i = 0; i < a.length && d < enough; i++) if (a[i] !== b[i]) d++;
  return d;
}

type Facesjs = Awaited<ReturnType<typeof loadFacesjs>>;

function featureId(face: FaceConfig, feature: FamilyFeature): string {
  return (face[feature] as { id: string }).id;
}

/** The founder with `traits` of its features replaced by other random faces' (each one a different id). */
function drawMember(facesjs: Facesjs, founder: FaceConfig, traits: number, rng: Rng): FaceConfig {
  const member = JSON.parse(JSON.stringify(founder)) as FaceConfig;
  const pool: FamilyFeature[] = [...familyFeatures];
  for (let t = 0; t < traits; t++) {
    const feature = pool.splice(rng.int(pool.length), 1)[0];
    for (let attempt = 0; ; attempt++) {
      if (attempt === maxAttempts) throw createError('E_CONFIG', `familyTraits: could not draw a new ${feature}`, 'familyTraits');
      const donor = drawFace(facesjs, rng);
      if (featureId(donor, feature) === featureId(founder, feature)) continue;
      (member as Record<string, unknown>)[feature] = JSON.parse(JSON.stringify(donor[feature]));
      break;
    }
  }
  return member;
}

/**
 * The identities of (seed, count, families): identity i is drawn from stream (seed, purpose, i, attempt),
 * taking the first attempt that differs from each earlier identity of another family in at least
 * minTraitDistance visible traits (and from its own family's in at least one), so identity i depends on
 * the seed and identities 0..i-1 only: a larger count keeps the smaller one's. Founder streams are
 * keyed by the family's index, so families of 1 are the identities drawn without families.
 */
export async function drawIdentities(seed: number, count: number, families?: Families): Promise<FaceConfig[]> {
  const { size, traits: memberTraits } = families ?? { size: 1, traits: 0 };
  const facesjs = await loadFacesjs();
  const faces: FaceConfig[] = [];
  const traits: string[][] = [];
  for (let i = 0; i < count; i++) {
    const family = Math.floor(i / size);
    const first = family * size;
    for (let attempt = 0; ; attempt++) {
      if (attempt === maxAttempts) throw createError('E_CONFIG', `identities: could not draw ${count} distinct faces (stuck at ${i})`, 'identities');
      const face =
        i === first
          ? drawFace(facesjs, new Rng(seed, identityStream, family, attempt))
          : drawMember(facesjs, faces[first], memberTraits, new Rng(seed, memberStream, i, attempt));
      const t = visibleTraits(face);
      const distinct = traits.every((u, j) => traitDistance(t, u, minTraitDistance) >= (j >= first ? 1 : minTraitDistance));
      if (distinct) {
        faces.push(face);
        traits.push(t);
        break;
      }
    }
  }
  return faces;
}
