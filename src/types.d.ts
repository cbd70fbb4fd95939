// Files imported `with { type: "file" }` resolve to a path; `bun build --compile` embeds them.
declare module "*.o" {
  const path: string;
  export default path;
}
