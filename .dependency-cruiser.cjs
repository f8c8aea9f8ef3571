// Layer rules of troupe (docs/design.md, "Layers"), checked by `npm run lint:deps` in CI:
//   native  ←  runtime  ←  ml  ←  actors  ←  cli        (an arrow: "is imported by")
// Each layer imports only layers to its left; nothing imports test code; no cycles anywhere.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle: split the shared part into a file both import.",
      from: {},
      to: { circular: true },
    },
    {
      name: "native-is-a-leaf",
      severity: "error",
      comment: "native/ (kernels and backends) imports nothing of the project.",
      from: { path: "^native/" },
      to: { path: "^(runtime|ml|actors|cli|deploy|test)/" },
    },
    {
      name: "runtime-below-ml",
      severity: "error",
      comment: "runtime/ (the actor system) knows no model, actor or command.",
      from: { path: "^runtime/" },
      to: { path: "^(ml|actors|cli|deploy|test)/" },
    },
    {
      name: "ml-below-actors",
      severity: "error",
      comment: "ml/ (model, optimizer, data, checkpoints, parallel layers) knows no actor or command.",
      from: { path: "^ml/" },
      to: { path: "^(actors|cli|deploy|test)/" },
    },
    {
      name: "actors-below-cli",
      severity: "error",
      comment: "actors/ (coordinator, workers, inference and dedup actors) knows no command.",
      from: { path: "^actors/" },
      to: { path: "^(cli|deploy|test)/" },
    },
    {
      name: "no-test-imports",
      severity: "error",
      comment: "Source never imports test code.",
      from: { path: "^(native|runtime|ml|actors|cli)/" },
      to: { path: "^test/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|build)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".cjs", ".mjs", ".json"] },
  },
};
