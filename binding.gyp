{
  "targets": [
    {
      "target_name": "amae",
      "sources": [
        "<!@(node -e \"process.stdout.write(require('fs').readFileSync('native/sources.txt','utf8').trim().split(/\\s+/).join(' '))\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++1y", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-march=x86-64-v3", "-fno-trapping-math", "-fno-math-errno"]
    }
  ]
}
