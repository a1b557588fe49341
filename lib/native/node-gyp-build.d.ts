declare module 'node-gyp-build' {
  interface Tags {
    file: string;
    specificity: number;
    runtime?: string;
    napi?: boolean;
    libc?: string;
  }
  interface NodeGypBuild {
    (dir: string): unknown;
    path(dir: string): string;
    parseTags(file: string): Tags | undefined;
    matchTags(runtime: string, abi: string): (tags: Tags | undefined) => boolean;
  }
  const load: NodeGypBuild;
  export = load;
}
