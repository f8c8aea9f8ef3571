{
  "targets": [
    {
      "target_name": "troupe_native",
      "sources": ["<!@(ls -1 native/src/*.cc)"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-O3", "-std=c++17"],
      "libraries": ["-lopenblas"]
    }
  ]
}
