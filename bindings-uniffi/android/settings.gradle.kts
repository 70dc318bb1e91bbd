// The Android library (AAR) of posemesh-registration, built by .github/workflows/release.yml:
// jniLibs/<abi>/libposemesh_registration_uniffi.so from cargo-ndk, Kotlin from uniffi
// (bindings-uniffi/generate.sh), both copied into src/main/ by the workflow (git-ignored).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "posemesh-registration"
