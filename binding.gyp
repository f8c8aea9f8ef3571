{
  "targets": [
    {
      "target_name": "troupe_native",
      "sources": ["<!@(ls -1 native/src/*.cc)"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd"],
      "libraries": ["-lopenblas"],
      "conditions": [
        # AVX2+FMA (x86-64-v3), not -march=native: a build folder copied to another x86 machine must still run.
        # GEMMs go through OpenBLAS, which picks its kernels for the CPU at run time.
        ["target_arch=='x64'", { "cflags_cc": ["-march=x86-64-v3"] }]
      ]
    }
  ]
}
