"""Image archives made by hand for the attack suite: docker-save layouts with any layers and config."""
import hashlib
import io
import json
import tarfile


def entry(name, data=b"", kind=tarfile.REGTYPE, link="", mode=0o644, size=None):
    return dict(name=name, data=data, kind=kind, link=link, mode=mode, size=size)


def layer_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = e["kind"]
            ti.mode = e["mode"]
            ti.linkname = e["link"]
            ti.size = len(e["data"]) if e["kind"] == tarfile.REGTYPE else 0
            t.addfile(ti, io.BytesIO(e["data"]) if e["kind"] == tarfile.REGTYPE else None)
    data = buf.getvalue()
    for e in entries:  # a header that claims more than the archive holds
        if e["size"] is not None:
            hdr = data.find(e["name"].encode())
            field = b"%011o\0" % e["size"]
            data = data[:hdr + 124] + field + data[hdr + 136:]
            chk = sum(data[hdr:hdr + 148]) + 8 * 32 + sum(data[hdr + 156:hdr + 512])
            data = data[:hdr + 148] + b"%06o\0 " % chk + data[hdr + 156:]
            data = data[:hdr + 512 + 512]  # cut off
    return data


def archive(path, layers, tag, diff_ids=None):
    """A docker-save archive (manifest.json, config, layers as <n>/layer.tar)."""
    ids = diff_ids or ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ids}, "history": []}).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag],
                            "Layers": [f"{i}/layer.tar" for i in range(len(layers))]}]).encode()
    with tarfile.open(path, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        add(cfg_name, config)
        for i, layer in enumerate(layers):
            add(f"{i}/layer.tar", layer)
        add("manifest.json", manifest)



def with_config(saved, out, tag, change):
    """A copy of the docker-save archive `saved` whose image config went through change(config) and whose
    only tag is `tag` (the layers are the same)."""
    with tarfile.open(saved) as t:
        files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    manifest = json.loads(files["manifest.json"])
    config = json.loads(files[manifest[0]["Config"]])
    change(config)
    data = json.dumps(config).encode()
    name = hashlib.sha256(data).hexdigest() + ".json"
    manifest = [{"Config": name, "RepoTags": [tag], "Layers": manifest[0]["Layers"]}]
    with tarfile.open(out, "w") as t:
        def add(n, d):
            ti = tarfile.TarInfo(n)
            ti.size = len(d)
            t.addfile(ti, io.BytesIO(d))
        add(name, data)
        for layer in manifest[0]["Layers"]:
            add(layer, files[layer])
        add("manifest.json", json.dumps(manifest).encode())
