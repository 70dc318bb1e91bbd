// Version: passed as -Pversion=<[workspace.package] version of Cargo.toml> by release.yml,
// the one place every artifact takes its version from.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
    `maven-publish`
}

group = "com.posemesh"

android {
    namespace = "com.posemesh.registration"
    compileSdk = 35
    defaultConfig {
        minSdk = 26 // java.time in the generated API
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    publishing {
        singleVariant("release") {
            withSourcesJar()
        }
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // uniffi's Kotlin loads the library through JNA (the @aar carries its Android natives).
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.1")
}

publishing {
    publications {
        register<MavenPublication>("release") {
            artifactId = "posemesh-registration"
            afterEvaluate { from(components["release"]) }
            pom {
                name.set("posemesh-registration")
                description.set("Register a posemesh node (a capture device) with the Domain Discovery Service.")
                url.set("https://github.com/posemesh/posemesh-registration")
                licenses {
                    license {
                        name.set("MIT")
                        url.set("https://github.com/posemesh/posemesh-registration/blob/main/LICENSE")
                    }
                }
            }
        }
    }
}
